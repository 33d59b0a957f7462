# The melange-frontend image: one static binary in an empty image.
#
# Offline build (what hack/build-image does; no base image is pulled):
#   RUSTFLAGS="-C target-feature=+crt-static" \
#     cargo build --release --target x86_64-unknown-linux-gnu
#   docker build -t melange-frontend:dev .
#
# With network access, Dockerfile.source builds the binary from source in a
# Rust container instead:  docker build -f Dockerfile.source -t melange-frontend:dev .
FROM scratch
COPY target/x86_64-unknown-linux-gnu/release/melange-frontend /melange-frontend
# The frontend needs no network of its own: buildkitd fetches everything.
LABEL moby.buildkit.frontend.network.none="true"
# Accepts frontend inputs, subrequests (targets listing) and named contexts.
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
ENTRYPOINT ["/melange-frontend"]
