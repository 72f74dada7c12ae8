// Package pcapfile reads packet captures in the classic libpcap format and
// in pcapng, and writes the classic format. It exists so mip6ctl dump and
// the tests need no libpcap and no cgo.
//
// Only what a capture of Mobile IPv6 traffic needs is kept: packets with
// their link type and timestamp. pcapng blocks other than the section
// header, interface descriptions and (simple) enhanced packets are skipped.
package pcapfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Link types (tcpdump.org "LINK-LAYER HEADER TYPES") that the decoders of
// this project understand.
const (
	LinkTypeNull      = 0   // BSD loopback: 4-octet host-order family
	LinkTypeEthernet  = 1   //
	LinkTypeRaw       = 101 // raw IPv4 or IPv6, version from the first nibble
	LinkTypeLinuxSLL  = 113 // Linux "cooked" capture v1
	LinkTypeIPv4      = 228 //
	LinkTypeIPv6      = 229 //
	LinkTypeLinuxSLL2 = 276 // Linux "cooked" capture v2
)

// MaxSnapLen bounds one packet's captured length; larger records are taken
// as corruption rather than allocated.
const MaxSnapLen = 256 * 1024

// ErrFormat reports a file that is neither pcap nor pcapng, or is corrupt.
var ErrFormat = errors.New("pcapfile: bad format")

// Packet is one captured packet. Data is only valid until the next call to
// Next.
type Packet struct {
	LinkType  uint32
	Timestamp time.Time
	Data      []byte
	OrigLen   int
}

// Reader reads packets from a pcap or pcapng stream.
type Reader struct {
	r   *bufio.Reader
	ng  bool
	bo  binary.ByteOrder
	buf []byte

	// classic pcap
	linkType uint32
	nano     bool

	// pcapng: per interface of the current section
	ifaces []ngIface
}

type ngIface struct {
	linkType uint32
	tsres    uint8 // if_tsresol: 10^-n s, or 2^-n s with the top bit set
}

const (
	magicMicro = 0xa1b2c3d4
	magicNano  = 0xa1b23c4d
	ngSHB      = 0x0a0d0d0a
	ngIDB      = 0x00000001
	ngSPB      = 0x00000003
	ngEPB      = 0x00000006
	ngBOM      = 0x1a2b3c4d
)

// NewReader detects the format from the first block and returns a reader.
func NewReader(r io.Reader) (*Reader, error) {
	br := bufio.NewReaderSize(r, 64*1024)
	head, err := br.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	pr := &Reader{r: br}
	if binary.LittleEndian.Uint32(head) == ngSHB {
		pr.ng = true
		if err := pr.readSHB(); err != nil {
			return nil, err
		}
		return pr, nil
	}
	var hdr [24]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, fmt.Errorf("%w: short header: %v", ErrFormat, err)
	}
	switch {
	case binary.LittleEndian.Uint32(hdr[:]) == magicMicro:
		pr.bo = binary.LittleEndian
	case binary.BigEndian.Uint32(hdr[:]) == magicMicro:
		pr.bo = binary.BigEndian
	case binary.LittleEndian.Uint32(hdr[:]) == magicNano:
		pr.bo, pr.nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(hdr[:]) == magicNano:
		pr.bo, pr.nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("%w: unknown magic %x", ErrFormat, hdr[:4])
	}
	// The link type's low 16 bits; the upper bits carry FCS flags.
	pr.linkType = pr.bo.Uint32(hdr[20:]) & 0xffff
	return pr, nil
}

// Next returns the next packet, or io.EOF at the end of the capture.
func (r *Reader) Next() (Packet, error) {
	if r.ng {
		return r.nextNG()
	}
	var rec [16]byte
	if _, err := io.ReadFull(r.r, rec[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return Packet{}, fmt.Errorf("%w: truncated record header", ErrFormat)
		}
		return Packet{}, err
	}
	sec := r.bo.Uint32(rec[0:])
	frac := r.bo.Uint32(rec[4:])
	incl := r.bo.Uint32(rec[8:])
	orig := r.bo.Uint32(rec[12:])
	if incl > MaxSnapLen {
		return Packet{}, fmt.Errorf("%w: record of %d octets", ErrFormat, incl)
	}
	data, err := r.read(int(incl))
	if err != nil {
		return Packet{}, err
	}
	ns := int64(frac) * 1000
	if r.nano {
		ns = int64(frac)
	}
	return Packet{LinkType: r.linkType, Timestamp: time.Unix(int64(sec), ns).UTC(), Data: data, OrigLen: int(orig)}, nil
}

func (r *Reader) read(n int) ([]byte, error) {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		return nil, fmt.Errorf("%w: truncated record: %v", ErrFormat, err)
	}
	return b, nil
}

// readBlock reads one pcapng block and returns its type and body (without
// the type, the two lengths).
func (r *Reader) readBlock() (uint32, []byte, error) {
	var h [8]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		if err == io.ErrUnexpectedEOF {
			return 0, nil, fmt.Errorf("%w: truncated block header", ErrFormat)
		}
		return 0, nil, err
	}
	typ := r.bo.Uint32(h[0:])
	total := r.bo.Uint32(h[4:])
	if total < 12 || total%4 != 0 || total > MaxSnapLen+64 {
		return 0, nil, fmt.Errorf("%w: block length %d", ErrFormat, total)
	}
	body, err := r.read(int(total) - 8)
	if err != nil {
		return 0, nil, err
	}
	if r.bo.Uint32(body[len(body)-4:]) != total {
		return 0, nil, fmt.Errorf("%w: block trailer length mismatch", ErrFormat)
	}
	return typ, body[:len(body)-4], nil
}

func (r *Reader) readSHB() error {
	var h [12]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		return fmt.Errorf("%w: short section header: %v", ErrFormat, err)
	}
	switch {
	case binary.LittleEndian.Uint32(h[8:]) == ngBOM:
		r.bo = binary.LittleEndian
	case binary.BigEndian.Uint32(h[8:]) == ngBOM:
		r.bo = binary.BigEndian
	default:
		return fmt.Errorf("%w: bad byte-order magic", ErrFormat)
	}
	total := r.bo.Uint32(h[4:])
	if total < 28 || total%4 != 0 || total > MaxSnapLen {
		return fmt.Errorf("%w: section header length %d", ErrFormat, total)
	}
	if _, err := r.read(int(total) - 12); err != nil {
		return err
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

func (r *Reader) nextNG() (Packet, error) {
	for {
		head, err := r.r.Peek(4)
		if err != nil {
			if err == io.EOF {
				return Packet{}, io.EOF
			}
			return Packet{}, fmt.Errorf("%w: %v", ErrFormat, err)
		}
		if binary.LittleEndian.Uint32(head) == ngSHB {
			if err := r.readSHB(); err != nil {
				return Packet{}, err
			}
			continue
		}
		typ, body, err := r.readBlock()
		if err != nil {
			return Packet{}, err
		}
		switch typ {
		case ngIDB:
			if len(body) < 8 {
				return Packet{}, fmt.Errorf("%w: short interface block", ErrFormat)
			}
			ifc := ngIface{linkType: uint32(r.bo.Uint16(body[0:]))}
			ifc.tsres = 6
			parseIDBOptions(r.bo, body[8:], &ifc)
			r.ifaces = append(r.ifaces, ifc)
		case ngEPB:
			if len(body) < 20 {
				return Packet{}, fmt.Errorf("%w: short packet block", ErrFormat)
			}
			id := r.bo.Uint32(body[0:])
			if int(id) >= len(r.ifaces) {
				return Packet{}, fmt.Errorf("%w: packet on undeclared interface %d", ErrFormat, id)
			}
			ifc := r.ifaces[id]
			ts := uint64(r.bo.Uint32(body[4:]))<<32 | uint64(r.bo.Uint32(body[8:]))
			capl := r.bo.Uint32(body[12:])
			orig := r.bo.Uint32(body[16:])
			if int(capl) > len(body)-20 {
				return Packet{}, fmt.Errorf("%w: captured length %d exceeds block", ErrFormat, capl)
			}
			return Packet{LinkType: ifc.linkType, Timestamp: ngTime(ts, ifc.tsres), Data: body[20 : 20+capl], OrigLen: int(orig)}, nil
		case ngSPB:
			if len(r.ifaces) == 0 || len(body) < 4 {
				return Packet{}, fmt.Errorf("%w: simple packet block without interface", ErrFormat)
			}
			orig := r.bo.Uint32(body[0:])
			data := body[4:]
			if int(orig) < len(data) {
				data = data[:orig]
			}
			return Packet{LinkType: r.ifaces[0].linkType, Data: data, OrigLen: int(orig)}, nil
		}
		// Other blocks (name resolution, statistics, custom) carry nothing
		// a decoder of packets needs.
	}
}

// parseIDBOptions picks if_tsresol (option 9) out of an interface
// description block's options.
func parseIDBOptions(bo binary.ByteOrder, opts []byte, ifc *ngIface) {
	for len(opts) >= 4 {
		code := bo.Uint16(opts[0:])
		l := int(bo.Uint16(opts[2:]))
		if code == 0 || 4+l > len(opts) {
			return
		}
		if code == 9 && l >= 1 {
			ifc.tsres = opts[4]
		}
		opts = opts[4+(l+3)&^3:]
	}
}

// ngTime converts a pcapng timestamp with resolution tsres (if_tsresol:
// high bit set = power of two, else power of ten) to a time.
func ngTime(ts uint64, tsres uint8) time.Time {
	if tsres&0x80 != 0 {
		p := uint(tsres & 0x7f)
		if p > 62 {
			return time.Time{}
		}
		sec := ts >> p
		frac := ts & (1<<p - 1)
		return time.Unix(int64(sec), int64(frac*1e9>>p)).UTC()
	}
	if tsres > 9 {
		div := uint64(1)
		for i := uint8(9); i < tsres && i < 19; i++ {
			div *= 10
		}
		ts /= div
		tsres = 9
	}
	per := uint64(1)
	for i := uint8(0); i < tsres; i++ {
		per *= 10
	}
	sec := ts / per
	frac := ts % per
	mult := uint64(1)
	for i := tsres; i < 9; i++ {
		mult *= 10
	}
	return time.Unix(int64(sec), int64(frac*mult)).UTC()
}

// Writer writes the classic pcap format (microsecond timestamps, little
// endian).
type Writer struct {
	w   io.Writer
	hdr [16]byte
}

// NewWriter writes the file header for linkType and returns a Writer.
func NewWriter(w io.Writer, linkType uint32) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], magicMicro)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], MaxSnapLen)
	binary.LittleEndian.PutUint32(h[20:], linkType)
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: w}, nil
}

// WritePacket appends one packet.
func (w *Writer) WritePacket(ts time.Time, data []byte) error {
	if len(data) > MaxSnapLen {
		return fmt.Errorf("pcapfile: packet of %d octets exceeds %d", len(data), MaxSnapLen)
	}
	binary.LittleEndian.PutUint32(w.hdr[0:], uint32(ts.Unix()))
	binary.LittleEndian.PutUint32(w.hdr[4:], uint32(ts.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(w.hdr[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(w.hdr[12:], uint32(len(data)))
	if _, err := w.w.Write(w.hdr[:]); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}
