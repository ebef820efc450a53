/**
 * The kleym release version, its one source: the operator's and CLI's --version, the
 * access layer's `User-Agent: kleym/<VERSION>`, the image tag (Makefile `VERSION`, `make image`) and
 * deploy.yaml (`make manifests` writes it into config/manager/kustomization.yaml).
 */
export const VERSION = "0.1.0";
