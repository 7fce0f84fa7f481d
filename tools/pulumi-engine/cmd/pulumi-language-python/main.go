// Command pulumi-language-python is this project's Python language host for the Pulumi CLI.
//
// Pulumi's own host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) is
// not served by the Go module proxy these machines reach (every version and pseudo-version answers
// 403 "This module version is not available"), so the project builds this small one instead. It
// speaks the same LanguageRuntime gRPC protocol (sdk/v3/proto/go) and runs the program the way
// Pulumi's host does: through the SDK's own `pulumi-language-python-exec` script, installed next to
// this binary, with the Python of the project's `virtualenv` runtime option, the stack config in
// PULUMI_CONFIG and its secret keys in PULUMI_CONFIG_SECRET_KEYS.
//
// What it does not do (not needed by `pulumi preview/up/refresh/destroy` of a pip project): install
// dependencies (`pulumi install`), report required plugins (the engine loads the ones the program
// registers), debuggers, type checkers, poetry/uv toolchains, codegen.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// bootstrap runs as `python -c bootstrap <config file> <exec script> <args…>`.
const bootstrap = `import os, runpy, sys
os.environ["PULUMI_CONFIG"] = open(sys.argv[1], encoding="utf-8").read()
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")`

const (
	execScript = "pulumi-language-python-exec"
	// The exec script's exit code after it printed an actionable message itself.
	exitShownToUser = 32
)

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	exec string

	mu     sync.Mutex
	engine string
}

func main() {
	args := os.Args[1:]
	for _, arg := range args {
		if arg == "-version" || arg == "--version" {
			fmt.Println(version.Version)
			return
		}
	}
	var engine string
	for _, arg := range args { // flags (-tracing=…, -root=…) are accepted and ignored
		if !strings.HasPrefix(arg, "-") {
			engine = arg
			break
		}
	}
	self, err := os.Executable()
	if err != nil {
		fail(err)
	}
	script := filepath.Join(filepath.Dir(self), execScript)
	if _, err := os.Stat(script); err != nil {
		fail(fmt.Errorf("missing %s next to the language host: %w", execScript, err))
	}

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	if engine != "" {
		if err := rpcutil.Healthcheck(ctx, engine, 5*time.Minute, cancel); err != nil {
			fail(fmt.Errorf("engine health check: %w", err))
		}
	}
	stop := make(chan bool)
	go func() { <-ctx.Done(); close(stop) }()
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, &host{exec: script, engine: engine})
			return nil
		},
	})
	if err != nil {
		fail(err)
	}
	fmt.Printf("%d\n", handle.Port) // the engine reads the port from the first line
	if err := <-handle.Done; err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
	os.Exit(1)
}

func (h *host) Handshake(_ context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engine = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *host) GetRequiredPlugins(context.Context, *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(context.Context, *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) GetProgramDependencies(context.Context, *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	python := pythonFor(req.GetInfo())
	out, err := exec.Command(python, "--version").Output()
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: python, Version: strings.TrimPrefix(strings.TrimSpace(string(out)), "Python ")}, nil
}

func (h *host) RuntimeOptionsPrompts(context.Context, *pulumirpc.RuntimeOptionsRequest) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) InstallDependencies(*pulumirpc.InstallDependenciesRequest, grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]) error {
	return errors.New("this language host does not install dependencies: create the virtualenv with pip (see README)")
}

// pythonFor is the interpreter of the `virtualenv` runtime option (relative to the project root),
// or python3 from PATH without one.
func pythonFor(info *pulumirpc.ProgramInfo) string {
	if info == nil || info.GetOptions() == nil {
		return "python3"
	}
	venv, _ := info.GetOptions().AsMap()["virtualenv"].(string)
	if venv == "" {
		return "python3"
	}
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(info.GetRootDirectory(), venv)
	}
	return filepath.Join(venv, "bin", "python")
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	h.mu.Lock()
	engine := h.engine
	h.mu.Unlock()
	python := pythonFor(req.GetInfo())
	if python != "python3" {
		if _, err := os.Stat(python); err != nil {
			return &pulumirpc.RunResponse{Error: fmt.Sprintf(
				"the virtualenv runtime option names %s, which does not exist: create it with "+
					"`python3 -m venv .venv && .venv/bin/pip install -r requirements.txt`", python)}, nil
		}
	}
	// The stack config travels in PULUMI_CONFIG, but Linux refuses any single environment string
	// over 128 KiB (E2BIG, "argument list too long": a stack of ~700 routes). So the config goes
	// through a private file, which a two-line bootstrap puts back into the environment before it
	// runs the SDK's exec script, exactly as that script expects it.
	configFile, err := os.CreateTemp("", "pulumi-config-*.json")
	if err != nil {
		return nil, err
	}
	defer os.Remove(configFile.Name())
	args := []string{"-u", "-c", bootstrap, configFile.Name(), h.exec}
	flag := func(name, value string) {
		if value != "" {
			args = append(args, "--"+name, value)
		}
	}
	flag("monitor", req.GetMonitorAddress())
	flag("engine", engine)
	flag("project", req.GetProject())
	flag("root_directory", req.GetInfo().GetRootDirectory())
	flag("stack", req.GetStack())
	flag("pwd", req.GetPwd())
	flag("dry_run", strconv.FormatBool(req.GetDryRun()))
	flag("parallel", strconv.Itoa(int(req.GetParallel())))
	flag("organization", req.GetOrganization())
	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args = append(args, entry)
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	keys, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	if _, err := configFile.Write(config); err != nil {
		return nil, err
	}
	if err := configFile.Close(); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Dir = req.GetInfo().GetProgramDirectory()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "PULUMI_CONFIG_SECRET_KEYS="+string(keys))
	if python != "python3" { // as a venv's activate script does
		cmd.Env = append(cmd.Env, "PATH="+filepath.Dir(python)+string(os.PathListSeparator)+os.Getenv("PATH"), "VIRTUAL_ENV="+filepath.Dir(filepath.Dir(python)))
	}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			if exit.ExitCode() == exitShownToUser {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exit.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}
