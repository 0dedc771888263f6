#include "nostr_relay.h"
