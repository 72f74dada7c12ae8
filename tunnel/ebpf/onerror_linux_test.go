package ebpf

import (
	"errors"
	"fmt"
	"testing"
)

func TestOnError(t *testing.T) {
	var kp, rest []error
	f := OnError(func(err error) { kp = append(kp, err) }, func(err error) { rest = append(rest, err) })
	ke := fmt.Errorf("tunnel: kernel path: %w", &Error{Err: errors.New("no tcx")})
	other := errors.New("tun device gone")
	f(ke)
	f(other)
	if len(kp) != 1 || kp[0] != ke || len(rest) != 1 || rest[0] != other {
		t.Errorf("kernel path %v, rest %v", kp, rest)
	}
	OnError(func(error) {}, nil)(other) // no rest: dropped, no panic
}
