# The two commands of the README, and a few shortcuts. Each script says what it does.
.PHONY: demo demo-down test build tools deps format

demo:        ## start a local cluster with the stack and an example job (scripts/demo.sh)
	scripts/demo.sh up

demo-down:   ## stop what `make demo` started
	scripts/demo.sh down

test:        ## install, build, and run every test through ctest (scripts/test.sh)
	scripts/test.sh

deps:        ## only the Debian packages and a Go 1.24+ (scripts/install-deps.sh)
	scripts/install-deps.sh

tools:       ## only the test bed's Go-built Kubernetes parts (and the node autoscalers)
	tests/testbed/tools/build.sh
	tests/testbed/tools/autoscalers/build.sh

build:       ## only the C++ build (into build/)
	cmake -S . -B build -G Ninja && cmake --build build

format:      ## clang-format every C++ file in place
	git ls-files -co --exclude-standard -- '*.cpp' '*.hpp' '*.h' '*.c' | xargs -r clang-format -i
