/** The kleym release version; the access layer sends it as `User-Agent: kleym/<VERSION>`. */
export const VERSION = "0.1.0";
