package scan

import "encoding/binary"

// Zip record layouts (PKWARE APPNOTE.TXT, sections 4.3.7–4.3.16): the
// scanner reads the records itself, because it must see what each reader
// (PyTorch's miniz, Python's zipfile, streaming unzippers) would see where
// they disagree, which archive/zip deliberately hides.
const (
	zipLocalSig     = 0x04034b50 // local file header
	zipCentralSig   = 0x02014b50 // central directory file header
	zipEndSig       = 0x06054b50 // end of central directory
	zip64LocatorSig = 0x07064b50 // ZIP64 end of central directory locator
	zip64EndSig     = 0x06064b50 // ZIP64 end of central directory record

	zipLocalLen     = 30 // fixed part of a local header
	zipCentralLen   = 46 // fixed part of a central directory header
	zipEndLen       = 22 // end record without its comment
	zip64LocatorLen = 20
	zip64EndLen     = 56 // without its extensible data
	zipDescMaxLen   = 24 // a data descriptor: signature, CRC, two 64-bit sizes

	zip64ExtraID = 0x0001     // extra field holding 64-bit sizes and offset
	zipMax32     = 0xffffffff // a 32-bit field that defers to the ZIP64 extra

	zipFlagEncrypted = 0x0001
	zipFlagDataDesc  = 0x0008 // sizes and CRC follow the data
	zipFlagStrongEnc = 0x0040
	zipFlagUTF8      = 0x0800
	zipFlagMasked    = 0x2000 // central directory encryption hides local values
	zipFlagDeflate   = 0x0006 // deflate's compression-level bits

	zipStore   = 0
	zipDeflate = 8

	// the longest end-of-central-directory record: fixed part and comment
	maxEOCDSearch = 0xffff + zipEndLen
)

// readBuf reads little-endian fields in order from a byte slice the
// caller has already checked is long enough.
type readBuf []byte

func (b *readBuf) u16() uint16 {
	v := binary.LittleEndian.Uint16(*b)
	*b = (*b)[2:]
	return v
}

func (b *readBuf) u32() uint32 {
	v := binary.LittleEndian.Uint32(*b)
	*b = (*b)[4:]
	return v
}

func (b *readBuf) u64() uint64 {
	v := binary.LittleEndian.Uint64(*b)
	*b = (*b)[8:]
	return v
}

func (b *readBuf) skip(n int) { *b = (*b)[n:] }

// zipEnd is the end-of-central-directory record (4.3.16).
type zipEnd struct {
	disk, cdDisk   uint16 // multi-disk archives have non-zero numbers
	entries        int64  // total entries
	cdSize, cdOff  int64
	commentLen     int64
	zip64LocatorAt int64 // where a ZIP64 locator would sit (end offset - 20)
}

func readZipEnd(rec []byte) zipEnd {
	b := readBuf(rec[4:])
	var e zipEnd
	e.disk, e.cdDisk = b.u16(), b.u16()
	b.skip(2) // entries on this disk
	e.entries = int64(b.u16())
	e.cdSize, e.cdOff = int64(b.u32()), int64(b.u32())
	e.commentLen = int64(b.u16())
	return e
}

// zip64Locator is the ZIP64 end-of-central-directory locator (4.3.15).
type zip64Locator struct {
	sig    uint32
	endOff int64 // where the ZIP64 end record says it is
}

func readZip64Locator(rec []byte) zip64Locator {
	b := readBuf(rec)
	var l zip64Locator
	l.sig = b.u32()
	b.skip(4) // disk with the ZIP64 end record
	l.endOff = int64(b.u64())
	return l
}

// readZip64End reads the entry count and central directory position of a
// ZIP64 end-of-central-directory record (4.3.14).
func readZip64End(rec []byte) (sig uint32, entries, cdSize, cdOff int64) {
	b := readBuf(rec)
	sig = b.u32()
	b.skip(8 + 2 + 2 + 4 + 4 + 8) // record size, versions, disk numbers, entries on this disk
	entries, cdSize, cdOff = int64(b.u64()), int64(b.u64()), int64(b.u64())
	return
}

// zipCentral is the fixed part of a central directory header (4.3.12).
type zipCentral struct {
	sig                         uint32
	flags, method               uint16
	crc                         uint32
	csize, usize                int64
	nameLen, extraLen, cmentLen int
	localOff                    int64
}

func readZipCentral(rec []byte) zipCentral {
	b := readBuf(rec)
	var c zipCentral
	c.sig = b.u32()
	b.skip(4) // versions made by and needed
	c.flags, c.method = b.u16(), b.u16()
	b.skip(4) // modification time and date
	c.crc = b.u32()
	c.csize, c.usize = int64(b.u32()), int64(b.u32())
	c.nameLen, c.extraLen, c.cmentLen = int(b.u16()), int(b.u16()), int(b.u16())
	b.skip(2 + 2 + 4) // disk number, internal and external attributes
	c.localOff = int64(b.u32())
	return c
}

// size is the whole record: fixed part, name, extra field and comment.
func (c zipCentral) size() int { return zipCentralLen + c.nameLen + c.extraLen + c.cmentLen }

// zipLocal is the fixed part of a local file header (4.3.7).
type zipLocal struct {
	sig               uint32
	flags, method     uint16
	crc               uint32
	csize, usize      int64
	nameLen, extraLen int64
}

func readZipLocal(rec []byte) zipLocal {
	b := readBuf(rec)
	var l zipLocal
	l.sig = b.u32()
	b.skip(2) // version needed
	l.flags, l.method = b.u16(), b.u16()
	b.skip(4) // modification time and date
	l.crc = b.u32()
	l.csize, l.usize = int64(b.u32()), int64(b.u32())
	l.nameLen, l.extraLen = int64(b.u16()), int64(b.u16())
	return l
}

// zip64Sizes applies a ZIP64 extra field (4.5.3) to the 32-bit fields that
// defer to it, in the order the format lists them.
func zip64Sizes(extra []byte, usize, csize, localOff *int64) {
	for len(extra) >= 4 {
		b := readBuf(extra)
		id, n := b.u16(), int(b.u16())
		if n > len(b) {
			return
		}
		if id == zip64ExtraID {
			f := b[:n]
			for _, v := range []*int64{usize, csize, localOff} {
				if *v == zipMax32 && len(f) >= 8 {
					*v = int64(f.u64())
				}
			}
		}
		extra = extra[4+n:]
	}
}
