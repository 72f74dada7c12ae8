// Command mip6lab builds a complete Mobile IPv6 network in namespaces, runs
// the real daemons in it and tours a mobile node around (SPEC.md, issue 6).
//
// It is not built yet: the daemons it drives land first. Until then it says
// so and exits with status 2 rather than pretending to run.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "mip6lab: not implemented yet: the lab lands with issue 6, after had (issue 4) and mnd (issue 5)")
	os.Exit(2)
}
