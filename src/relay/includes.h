#include "nostr.h"
