# Support programs, eligibility and escape-from-poverty registrations land here.
