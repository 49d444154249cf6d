"""The web console's pure parts: the htpasswd users file, sessions and CSRF tokens, throttling."""
