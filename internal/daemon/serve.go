package daemon

import (
	"context"

	"go.uber.org/zap"

	"github.com/gomip6/gomip6/conf"
)

// Serve is the Run of a daemon whose runtime takes its configuration
// changes on a channel (had, cnd): it loads the configuration at
// o.Config, builds the logger from its log section, starts the runtime,
// turns each reload request into a freshly loaded configuration (a bad one
// is logged and the old one kept, SPEC.md), tells the service manager
// READY / RELOADING / STOPPING (sd_notify), and runs until ctx is done.
//
// load reads a configuration, logOf picks its log section, start builds
// the runtime in the calling thread's network namespace and returns its
// Run.
func Serve[C any](ctx context.Context, o RunOptions,
	load func(path string) (C, error),
	logOf func(C) conf.Log,
	start func(cfg C, log *zap.Logger) (run func(ctx context.Context, reload <-chan C) error, err error),
) error {
	cfg, err := load(o.Config)
	if err != nil {
		return err
	}
	log, err := NewLogger(logOf(cfg), o.Name, o.Stderr)
	if err != nil {
		return err
	}
	defer log.Sync()
	run, err := start(cfg, log)
	if err != nil {
		log.Error("cannot start", zap.Error(err))
		return err
	}
	reload := make(chan C)
	go func() {
		for {
			select {
			case <-ctx.Done():
				Notify("STOPPING=1")
				return
			case <-o.Reload:
			}
			Notify("RELOADING=1")
			c, err := load(o.Config)
			if err != nil {
				log.Error("reload: configuration has problems, keeping the old one", zap.Error(err))
			} else {
				select {
				case reload <- c:
				case <-ctx.Done():
					return
				}
			}
			Notify("READY=1")
		}
	}()
	if err := Notify("READY=1"); err != nil {
		log.Warn("sd_notify", zap.Error(err))
	}
	return run(ctx, reload)
}
