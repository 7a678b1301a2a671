# syntax=docker/dockerfile:1
# nplc for pipelines: a small image holding one static binary.
#
#   docker build -t nplc .                      # the static image (scratch)
#   docker build -t nplc:git --target with-git .  # plus git, for `nplc diff REV..REV`
#   docker run --rm -v "$PWD:/work" nplc check policy/
#
# The binary is built on Alpine, whose Rust targets musl and links it
# statically, so the last stage needs nothing else.

FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
# The binary stage; tests/pipeline.rs runs this same command.
RUN cargo build --release --locked --bin nplc
RUN strip target/release/nplc

# With git, for `nplc diff main..HEAD policy/` inside the container.
FROM alpine:3.22 AS with-git
RUN apk add --no-cache git && git config --system --add safe.directory '*'
COPY --from=build /src/target/release/nplc /usr/local/bin/nplc
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/nplc"]
CMD ["--help"]

# The default image: the binary alone.
FROM scratch AS static
COPY --from=build /src/target/release/nplc /usr/local/bin/nplc
WORKDIR /work
ENTRYPOINT ["/usr/local/bin/nplc"]
CMD ["--help"]
