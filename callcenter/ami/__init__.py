"""AMI: the one connection to Asterisk (panoramisk lives here only), event translation, AsyncAGI."""
