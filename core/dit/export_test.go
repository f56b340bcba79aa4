package dit

// SetAMXForTest switches the AMX tiles of Precision BF16 on or off.
func SetAMXForTest(on bool) { setAMX(on) }

// AMXForTest reports whether Precision BF16 uses AMX tiles now.
func AMXForTest() bool { return amxOn() }
