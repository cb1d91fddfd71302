package install

import (
	"fmt"
	"sync"
	"time"

	"github.com/meshctl/meshctl/pkg/iostreams"
)

// spinner draws "⠋ Installing control plane" on a terminal's standard error
// while a component is applied and waited for; elsewhere it draws nothing,
// so logs of CI runs hold only the ✔ lines.
type spinner struct {
	io    *iostreams.IOStreams
	mu    sync.Mutex
	stopC chan struct{}
	done  chan struct{}
}

func newSpinner(io *iostreams.IOStreams) *spinner { return &spinner{io: io} }

func (s *spinner) start(msg string) {
	s.stop()
	if !s.io.IsStderrTTY() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopC, s.done = make(chan struct{}), make(chan struct{})
	go func(stop, done chan struct{}) {
		defer close(done)
		frames := []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(s.io.ErrOut, "\r%c %s", frames[i%len(frames)], msg)
			select {
			case <-stop:
				fmt.Fprint(s.io.ErrOut, "\r\033[K")
				return
			case <-t.C:
			}
		}
	}(s.stopC, s.done)
}

func (s *spinner) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopC != nil {
		close(s.stopC)
		<-s.done
		s.stopC, s.done = nil, nil
	}
}
