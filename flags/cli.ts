/**
 * Every flag of the `kleym` CLI (docs/contract.md#cli), in help order, one entry each: name,
 * short form, type, default, validation and help. cli/args.ts builds the command from it.
 */
import type { Flag } from "./parse.ts";
import { SVID_LIMIT_FLAGS } from "./svid.ts";
import {
  actionFlag,
  boolFlag,
  checkClassName,
  checkNamespace,
  checkNotEmpty,
  checkTrustDomain,
  choiceFlag,
  connectionFlags,
  durationFlag,
  textFlag,
} from "./values.ts";

export const CLI_PROGRAM = "kleym";

/** What `inspect` renders with when neither --trust-domain nor the binding's status names one. */
export const INSPECT_DEFAULT_TRUST_DOMAIN = "kleym.sonda.red";

const INSPECT_ONLY = " (inspect only)";

const NAMESPACE: Flag<string> = {
  name: "namespace",
  short: "n",
  type: "string",
  value: "namespace",
  help: "namespace of the binding",
  default: "default",
  defaultHelp: "default",
  note: INSPECT_ONLY,
  parse: (text, source) => {
    checkNamespace(text, source);
    return text;
  },
};

/**
 * The operator's `spec.svid` limit flags, for `inspect` to render with the operator's values: no
 * environment fallback (the CLI's environment is not the operator's), the operator's defaults.
 */
function inspectLimit<T>(flag: Flag<T>): Flag<T> {
  return {
    ...flag,
    env: undefined,
    note: INSPECT_ONLY,
  };
}

/** The table. Keys name the option a flag feeds; order is help order. */
export const CLI_FLAGS = {
  output: choiceFlag({
    name: "output",
    short: "o",
    value: "text|json",
    help: "output format",
    choices: ["text", "json"] as const,
    default: "text",
    listed: "or",
  }),
  ...connectionFlags("refuse"),
  timeout: durationFlag({
    name: "timeout",
    help: "give up talking to the API server after this long, e.g. 10s",
    default: 30_000,
    seconds: true,
  }),
  namespace: NAMESPACE,
  strict: boolFlag({
    name: "strict",
    help: "exit 2 on warnings too",
    default: false,
    note: INSPECT_ONLY,
  }),
  trustDomain: textFlag({
    name: "trust-domain",
    value: "name",
    help: "trust domain to render with",
    defaultHelp: `the binding's status, else ${INSPECT_DEFAULT_TRUST_DOMAIN}`,
    note: INSPECT_ONLY,
    check: (text, source) => {
      checkNotEmpty(text, source);
      checkTrustDomain(text, source);
    },
  }),
  className: textFlag({
    name: "clusterspiffeid-class-name",
    value: "name",
    help: 'class name to render with, "" for none',
    defaultHelp: "the binding's status, else none",
    note: INSPECT_ONLY,
    check: checkClassName,
  }),
  maxSvidTtl: inspectLimit(SVID_LIMIT_FLAGS.maxSvidTtl),
  clusterDomain: inspectLimit(SVID_LIMIT_FLAGS.clusterDomain),
  allowedDnsSuffixes: inspectLimit(SVID_LIMIT_FLAGS.allowedDnsSuffixes),
  allowedFederatedTrustDomains: inspectLimit(SVID_LIMIT_FLAGS.allowedFederatedTrustDomains),
  help: actionFlag({ name: "help", short: "h", help: "print this help and exit" }),
  version: actionFlag({ name: "version", help: "print the version and exit" }),
} as const;

/** The entries in help order. */
export const CLI_FLAG_LIST: readonly Flag[] = Object.values(CLI_FLAGS);

/** Flags that only `inspect binding` takes. */
export const INSPECT_ONLY_FLAGS: readonly Flag[] = CLI_FLAG_LIST.filter((f) =>
  f.note === INSPECT_ONLY
);
