/**
 * A ValidatingAdmissionPolicy and its binding (admissionregistration.k8s.io/v1) that deny the
 * given operations on one resource when `expression` is false: the platform policies the
 * fail-closed tests put in kleym's way (docs/contract.md#fail-closed).
 */
export interface DenyingPolicy {
  name: string;
  apiGroup: string;
  resource: string;
  operations: string[];
  /** CEL; the request is denied when it is false. */
  expression: string;
  message: string;
}

/** The policy and its binding, ready for `apply`. */
export function denyingPolicy(p: DenyingPolicy): unknown[] {
  return [
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicy",
      metadata: { name: p.name },
      spec: {
        failurePolicy: "Fail",
        matchConstraints: {
          resourceRules: [{
            apiGroups: [p.apiGroup],
            apiVersions: ["*"],
            operations: p.operations,
            resources: [p.resource],
          }],
        },
        validations: [{ expression: p.expression, message: p.message }],
      },
    },
    {
      apiVersion: "admissionregistration.k8s.io/v1",
      kind: "ValidatingAdmissionPolicyBinding",
      metadata: { name: p.name },
      spec: { policyName: p.name, validationActions: ["Deny"] },
    },
  ];
}
