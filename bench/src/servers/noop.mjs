// What the no-op middleware rows attach to every request: an identity made once, as a cache hit
// hands on one made once per token.
export const SUBJECT = 'system:serviceaccount:kube-system:webhook-auth';

/** The identity a no-op middleware sets: frozen and shared, like a cached one. */
export const NOOP_IDENTITY = Object.freeze({
  username: SUBJECT,
  groups: Object.freeze([
    'system:serviceaccounts',
    'system:serviceaccounts:kube-system',
    'system:authenticated',
  ]),
  verifiedBy: 'noop',
});
