//go:build linux && (amd64 || arm64)

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"unsafe"
)

// O_TMPFILE (__O_TMPFILE | O_DIRECTORY; __O_TMPFILE is 020000000 on these
// architectures, O_DIRECTORY differs between them).
const oTmpfile = 0x400000 | syscall.O_DIRECTORY

const atSymlinkFollow = 0x400

// openAnon creates an unnamed file in dir (O_TMPFILE): until linkAnon
// names it, no crash, kill -9 or power cut can leave it behind. It fails
// where the filesystem or kernel has no O_TMPFILE, or /proc is missing.
func openAnon(dir string) (*os.File, error) {
	fd, err := syscall.Open(dir, oTmpfile|syscall.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), filepath.Join(dir, "(unnamed output)"))
	if _, err := os.Stat(procFD(f)); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func procFD(f *os.File) string { return fmt.Sprintf("/proc/self/fd/%d", f.Fd()) }

// linkAnon gives an unnamed file a name (linkat with AT_SYMLINK_FOLLOW on
// its /proc/self/fd link).
func linkAnon(f *os.File, name string) error {
	oldp, err := syscall.BytePtrFromString(procFD(f))
	if err != nil {
		return err
	}
	newp, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	cwd := -100 // AT_FDCWD
	_, _, e := syscall.Syscall6(syscall.SYS_LINKAT, uintptr(cwd), uintptr(unsafe.Pointer(oldp)), uintptr(cwd), uintptr(unsafe.Pointer(newp)), atSymlinkFollow, 0)
	if e != 0 {
		return &os.LinkError{Op: "link", Old: f.Name(), New: name, Err: e}
	}
	return nil
}
