package binding

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/gomip6/gomip6/mip6"
)

// This file persists a Cache (issue 4, "Restart: zero bindings lost"): a
// restarted home agent reloads its bindings and resumes forwarding without
// waiting for the mobile nodes to re-register.
//
// File format, all integers big-endian:
//
//	magic    "gomip6bc"                  8 octets
//	version  uint32 = 1
//	count    uint64                      number of records
//	records  count × record
//	crc      uint32                      CRC-32C of everything before it
//
//	record:  home address 16 | care-of 16 | expires int64 (Unix ns) |
//	         timestamp uint64 | lifetime uint32 (s) | node uint32 |
//	         sequence uint16 | flags uint16 | port uint16 |
//	         care-of is IPv4 uint8 | prefix count uint8 |
//	         prefix count × (address 16 | bits uint8)
//
// Expiry is absolute wall-clock time: the monotonic clock does not survive
// a restart. The checksum makes a torn or corrupted file an error rather
// than a cache of garbage; the atomic replace (SaveStateFile) means a
// crash while saving leaves the previous file whole.

const (
	stateMagic   = "gomip6bc"
	stateVersion = 1
	recordLen    = 16 + 16 + 8 + 8 + 4 + 4 + 2 + 2 + 2 + 1 + 1
	prefixLen    = 17
)

// ErrCorruptState reports a state file that is not a well-formed cache:
// bad magic, unknown version, truncation, checksum mismatch or an invalid
// record. Test with errors.Is.
var ErrCorruptState = errors.New("binding: corrupt binding cache state")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// WriteState writes every entry of c to w in the format described in
// state.go.
func (c *Cache) WriteState(w io.Writer) error {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	var hdr [20]byte
	copy(hdr[:8], stateMagic)
	binary.BigEndian.PutUint32(hdr[8:], stateVersion)
	binary.BigEndian.PutUint64(hdr[12:], uint64(c.n))
	bw.Write(hdr[:])
	var rec [recordLen + 255*prefixLen]byte
	for si := range c.shards {
		s := &c.shards[si]
		for _, i := range s.heap {
			sl := &s.slots[i]
			b := rec[:0]
			b = append(b, sl.hoa[:]...)
			b = append(b, sl.coa[:]...)
			b = binary.BigEndian.AppendUint64(b, uint64(sl.expires))
			b = binary.BigEndian.AppendUint64(b, sl.ts)
			b = binary.BigEndian.AppendUint32(b, sl.lifetime)
			b = binary.BigEndian.AppendUint32(b, sl.node)
			b = binary.BigEndian.AppendUint16(b, sl.seq)
			b = binary.BigEndian.AppendUint16(b, sl.flags)
			b = binary.BigEndian.AppendUint16(b, sl.port)
			v4 := byte(0)
			if sl.coa4 {
				v4 = 1
			}
			var pfx []netip.Prefix
			if sl.pfx {
				pfx = s.pfx[i]
			}
			pfx = pfx[:min(len(pfx), 255)]
			b = append(b, v4, byte(len(pfx)))
			for _, p := range pfx {
				a := p.Addr().As16()
				b = append(append(b, a[:]...), byte(p.Bits()))
			}
			if _, err := bw.Write(b); err != nil {
				return err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	_, err := w.Write(sum[:])
	return err
}

// ReadState reads a cache written by WriteState. Entries whose expiry is
// not after now are dropped: they lapsed while the home agent was down.
// A malformed input gives an error wrapping ErrCorruptState (or the
// reader's error), never a partial cache.
func ReadState(r io.Reader, now time.Time) (*Cache, error) {
	crc := crc32.New(castagnoli)
	br := bufio.NewReaderSize(r, 64<<10)
	tr := io.TeeReader(br, crc)
	var hdr [20]byte
	if _, err := io.ReadFull(tr, hdr[:]); err != nil {
		return nil, corrupt(err, "header")
	}
	if string(hdr[:8]) != stateMagic {
		return nil, fmt.Errorf("%w: bad magic %q", ErrCorruptState, hdr[:8])
	}
	if v := binary.BigEndian.Uint32(hdr[8:]); v != stateVersion {
		return nil, fmt.Errorf("%w: version %d, want %d", ErrCorruptState, v, stateVersion)
	}
	count := binary.BigEndian.Uint64(hdr[12:])
	// The count is not trusted for the allocation: a corrupt count must
	// not make us reserve memory the file does not back. The cache grows
	// as records actually arrive.
	c := NewCache(int(min(count, 1<<12)))
	t := now.UnixNano()
	var rec [recordLen]byte
	var pb [255 * prefixLen]byte
	for n := uint64(0); n < count; n++ {
		if _, err := io.ReadFull(tr, rec[:]); err != nil {
			return nil, corrupt(err, fmt.Sprintf("record %d", n))
		}
		be := binary.BigEndian
		e := Entry{
			HomeAddress: netip.AddrFrom16([16]byte(rec[0:16])),
			CareOf:      netip.AddrFrom16([16]byte(rec[16:32])),
			Expires:     time.Unix(0, int64(be.Uint64(rec[32:]))),
			Timestamp:   Timestamp(be.Uint64(rec[40:])),
			Lifetime:    time.Duration(be.Uint32(rec[48:])) * time.Second,
			Node:        be.Uint32(rec[52:]),
			Sequence:    be.Uint16(rec[56:]),
			Flags:       mip6.BUFlags(be.Uint16(rec[58:])),
			CareOfPort:  be.Uint16(rec[60:]),
		}
		v4, np := rec[62], int(rec[63])
		switch {
		case v4 > 1:
			return nil, fmt.Errorf("%w: record %d: IPv4 flag %d", ErrCorruptState, n, v4)
		case v4 == 1 && !e.CareOf.Is4In6():
			return nil, fmt.Errorf("%w: record %d: IPv4 care-of %v is not IPv4-mapped", ErrCorruptState, n, e.CareOf)
		case v4 == 1:
			e.CareOf = e.CareOf.Unmap()
		}
		if e.HomeAddress.Is4In6() || !e.HomeAddress.IsGlobalUnicast() {
			return nil, fmt.Errorf("%w: record %d: home address %v", ErrCorruptState, n, e.HomeAddress)
		}
		if np > 0 {
			if _, err := io.ReadFull(tr, pb[:np*prefixLen]); err != nil {
				return nil, corrupt(err, fmt.Sprintf("record %d prefixes", n))
			}
			e.MobilePrefixes = make([]netip.Prefix, np)
			for j := range np {
				p := pb[j*prefixLen:]
				bits := int(p[16])
				if bits > 128 {
					return nil, fmt.Errorf("%w: record %d: prefix length %d", ErrCorruptState, n, bits)
				}
				e.MobilePrefixes[j] = netip.PrefixFrom(netip.AddrFrom16([16]byte(p[:16])), bits)
			}
		}
		if _, dup := c.Lookup(e.HomeAddress); dup {
			return nil, fmt.Errorf("%w: record %d: home address %v twice", ErrCorruptState, n, e.HomeAddress)
		}
		if e.Expires.UnixNano() <= t {
			continue
		}
		c.Set(e)
	}
	want := crc.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(br, sum[:]); err != nil {
		return nil, corrupt(err, "checksum")
	}
	if got := binary.BigEndian.Uint32(sum[:]); got != want {
		return nil, fmt.Errorf("%w: checksum %#08x, computed %#08x", ErrCorruptState, got, want)
	}
	if _, err := br.ReadByte(); err != io.EOF {
		if err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: data after the checksum", ErrCorruptState)
	}
	return c, nil
}

// corrupt turns a short read into ErrCorruptState and passes other read
// errors through.
func corrupt(err error, where string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: truncated in %s", ErrCorruptState, where)
	}
	return err
}

// SaveStateFile writes c to path atomically: it writes a temporary file
// in the same directory, syncs it, renames it over path and syncs the
// directory, so that path always holds either the previous state or the
// new one, whole, even across a crash or power loss.
func SaveStateFile(c *Cache, path string) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if err = c.WriteState(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// LoadStateFile reads the state saved at path, dropping entries expired
// by now. A missing file is a first start: it returns an empty cache and
// no error. A corrupt file returns an error wrapping ErrCorruptState; the
// caller decides whether to start empty.
func LoadStateFile(path string, now time.Time) (*Cache, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewCache(0), nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := ReadState(f, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
