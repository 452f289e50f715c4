package mdm

// To regenerate zz_policy.go, set APPLE_DEVICE_MANAGEMENT to a checkout of
// Apple's device-management schema repository and run go generate.
//go:generate go run ./internal/genpolicy -o zz_policy.go $APPLE_DEVICE_MANAGEMENT/mdm/commands

// allowedUnderUserEnrollment reports whether Apple allows the command requestType
// under iOS User Enrollment. The table behind it is generated from Apple's
// device-management schema (commands whose iOS userenrollment mode is
// "allowed").
func allowedUnderUserEnrollment(requestType string) bool {
	_, ok := userEnrollmentAllowed[requestType]
	return ok
}

// UserEnrollmentCommands returns the RequestTypes allowed under iOS User
// Enrollment, sorted.
func UserEnrollmentCommands() []string {
	return append([]string(nil), userEnrollmentCommands...)
}

// CheckPolicy returns a *PolicyError (matching ErrCommandNotAllowed) when
// requestType may not be sent to an enrollment of type t: for User
// Enrollment channels, every command Apple does not allow under User
// Enrollment. Other enrollment types accept every command.
func CheckPolicy(t EnrollmentType, requestType string) error {
	if t.IsUserEnrollment() && !allowedUnderUserEnrollment(requestType) {
		return &PolicyError{RequestType: requestType, Type: t}
	}
	return nil
}
