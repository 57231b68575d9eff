/* redact.h - in-place secret scrubbing for text bound for logs, errors and
 * status files; depends on nothing but the C library and base/mem. */
#ifndef MB_REDACT_H
#define MB_REDACT_H

/* Replaces secrets in s (in place) with "REDACTED" (a run shorter than
 * that with '*'): sig=... (also sig%3D...) query values, AccountKey=... and
 * SharedAccessSignature=..., "SharedKey a:b", "Bearer x" and access_token
 * values. Every value that follows a key in the text as given is blotted,
 * so a repeated key ("Bearer Bearer x") hides nothing; whitespace around
 * '=' (as connection strings allow) and an opening quote after a key are
 * skipped. The text never grows, and redacting it again changes nothing;
 * without memory for the work, all of it is blotted. NULL is ignored. */
void mb_redact(char *s);

#endif
