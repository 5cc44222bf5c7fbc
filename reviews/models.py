# The annual review (standards, surveys, classification, approvals) lands here.
