def user_area(request) -> dict:
    """The signed-in user's unit, for the page header."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"user_unit": user.unit}
