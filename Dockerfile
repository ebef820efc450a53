# kleym operator image: `deno compile` in a build stage, the single binary on distroless.
#
#   make image   (docker build -t kleym-operator:$(VERSION) ., VERSION from apis/version.ts)
#
# The build stage needs network access (the Deno base runtime `denort` and the npm package
# `yaml` are downloaded). See docs/operations.md.

FROM denoland/deno:2.9.6 AS build
WORKDIR /src
COPY deno.json deno.lock ./
COPY main.ts ./
COPY apis/ apis/
COPY flags/ flags/
COPY generated/ generated/
COPY observe/ observe/
COPY operator/ operator/
COPY reconcile/ reconcile/
COPY tools/task_flags.ts tools/
# The run flags come from their one definition, the "operator-incluster" task in deno.json: the
# narrowest set the Deployment needs (docs/permissions.md).
RUN PERMS="$(deno run --quiet --allow-read=deno.json tools/task_flags.ts operator-incluster)" \
  && deno compile $PERMS --frozen --output /out/kleym-operator main.ts

# glibc + libgcc (what a deno compile binary links against), no shell, nonroot (65532).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/kleym-operator /kleym-operator
USER 65532:65532
ENTRYPOINT ["/kleym-operator"]
