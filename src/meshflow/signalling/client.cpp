// placeholder: signalling client library
