# find_package(distrise): the imported INTERFACE target distrise::headers
# (the include directory of nostr.h, nostr_relay.h, nostr_gateway.h and the
# libraries nostr.h needs: libsecp256k1 and mbedTLS). An app defining
# NOSTR_WITH_PGWIRE or NOSTR_WITH_RABBITMQ links libpq or librabbitmq itself.
set(_distrise_libs)
foreach(_distrise_lib secp256k1 mbedtls mbedx509 mbedcrypto)
  find_library(DISTRISE_${_distrise_lib}_LIBRARY ${_distrise_lib})
  if(NOT DISTRISE_${_distrise_lib}_LIBRARY)
    set(distrise_FOUND FALSE)
    set(distrise_NOT_FOUND_MESSAGE
        "distrise needs lib${_distrise_lib} (Debian: apt-get install libsecp256k1-dev libmbedtls-dev)")
    unset(_distrise_lib)
    unset(_distrise_libs)
    return()
  endif()
  list(APPEND _distrise_libs ${DISTRISE_${_distrise_lib}_LIBRARY})
endforeach()

if(NOT TARGET distrise::headers)
  include(${CMAKE_CURRENT_LIST_DIR}/distrise-targets.cmake)
  set_property(TARGET distrise::headers APPEND PROPERTY INTERFACE_LINK_LIBRARIES ${_distrise_libs})
endif()
unset(_distrise_lib)
unset(_distrise_libs)
