package rawsock

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// asm is a tiny assembler over x/net/bpf with symbolic labels. Classic BPF
// jumps are relative and the conditional ones reach at most 255
// instructions forward, which makes hand-counted skips in an unrolled
// header walk error-prone; the labels are resolved once at the end and a
// jump that is too far is an error instead of a silently wrong program.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	fix    []fixup
	err    error
	n      int // counter for generated labels
}

// fixup records a jump whose targets are labels. An empty label means "the
// next instruction" (skip 0).
type fixup struct {
	at          int
	target      string // for bpf.Jump
	ifTrue, ifF string // for bpf.JumpIf
}

func newAsm() *asm { return &asm{labels: map[string]int{}} }

// i appends plain instructions.
func (a *asm) i(ins ...bpf.Instruction) { a.ins = append(a.ins, ins...) }

// label places name at the next instruction.
func (a *asm) label(name string) {
	if _, dup := a.labels[name]; dup && a.err == nil {
		a.err = fmt.Errorf("rawsock: bpf label %q placed twice", name)
	}
	a.labels[name] = len(a.ins)
}

// jmp appends an unconditional jump to label.
func (a *asm) jmp(label string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), target: label})
	a.ins = append(a.ins, bpf.Jump{})
}

// jif appends "if A <cond> val goto t else goto f".
func (a *asm) jif(cond bpf.JumpTest, val uint32, t, f string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), ifTrue: t, ifF: f})
	a.ins = append(a.ins, bpf.JumpIf{Cond: cond, Val: val})
}

// require appends "if not (A <cond> val) goto reject" through an
// unconditional jump, which reaches any distance.
func (a *asm) require(cond bpf.JumpTest, val uint32) {
	a.n++
	ok := fmt.Sprintf("req_%d", a.n)
	a.jif(cond, val, ok, "")
	a.jmp(lblReject)
	a.label(ok)
}

// resolve returns the program with every jump resolved.
func (a *asm) resolve() ([]bpf.Instruction, error) {
	if a.err != nil {
		return nil, a.err
	}
	skip := func(at int, label string) (int, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := a.labels[label]
		if !ok {
			return 0, fmt.Errorf("rawsock: bpf label %q not placed", label)
		}
		if to <= at {
			return 0, fmt.Errorf("rawsock: bpf jump backwards to %q", label)
		}
		return to - at - 1, nil
	}
	out := append([]bpf.Instruction(nil), a.ins...)
	for _, f := range a.fix {
		switch ins := out[f.at].(type) {
		case bpf.Jump:
			s, err := skip(f.at, f.target)
			if err != nil {
				return nil, err
			}
			ins.Skip = uint32(s)
			out[f.at] = ins
		case bpf.JumpIf:
			t, err := skip(f.at, f.ifTrue)
			if err != nil {
				return nil, err
			}
			e, err := skip(f.at, f.ifF)
			if err != nil {
				return nil, err
			}
			if t > 255 || e > 255 {
				return nil, fmt.Errorf("rawsock: bpf conditional jump at %d too far (%d, %d)", f.at, t, e)
			}
			ins.SkipTrue, ins.SkipFalse = uint8(t), uint8(e)
			out[f.at] = ins
		}
	}
	// The kernel limit for a classic BPF socket filter (BPF_MAXINSNS).
	if len(out) > 4096 {
		return nil, fmt.Errorf("rawsock: bpf program of %d instructions exceeds 4096", len(out))
	}
	return out, nil
}
