// A Go program exercising what Go servers do at start: goroutines,
// os/exec (Go forks with clone), pipes, a signal to itself, loopback TCP,
// timers and hashing. Prints one line per check.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

func main() {
	var wg sync.WaitGroup
	sum := make(chan int, 8)
	for i := 1; i <= 8; i++ {
		wg.Add(1)
		go func(n int) { defer wg.Done(); sum <- n }(i)
	}
	wg.Wait()
	close(sum)
	total := 0
	for n := range sum {
		total += n
	}
	fmt.Println("goroutines", total)

	err := exec.Command("/bin/true").Run()
	fmt.Println("exec", err == nil)

	r, w, _ := os.Pipe()
	go func() { w.Write([]byte("pipe")); w.Close() }()
	data, _ := io.ReadAll(r)
	fmt.Println("pipe", string(data))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGUSR1)
	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	select {
	case s := <-signals:
		fmt.Println("signal", s == syscall.SIGUSR1)
	case <-time.After(5 * time.Second):
		fmt.Println("signal timeout")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println("listen", err)
		return
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("pong"))
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println("dial", err)
		return
	}
	reply, _ := io.ReadAll(c)
	fmt.Println("tcp", string(reply))

	fmt.Printf("sha256 %x\n", sha256.Sum256([]byte("x")))
}
