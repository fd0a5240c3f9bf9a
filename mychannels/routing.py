"""The ASGI protocol router: HTTP to Django, WebSockets through origin and session checks."""

from django.core.asgi import get_asgi_application
from django.urls import re_path


def build_application():
    django_http = get_asgi_application()  # sets Django up before the consumers are imported
    from alert.routing import websocket_urlpatterns as alert_sockets
    from chat.attachments_views import upload_body_limit_for
    from chat.routing import websocket_urlpatterns as chat_sockets
    from mychannels.dashboard.routing import websocket_urlpatterns as dashboard_sockets
    from mychannels.origin import SameOriginValidator
    from mychannels.runtime.auth import SessionAuthMiddlewareStack
    from mychannels.runtime.bodylimit import BodyLimit
    from mychannels.runtime.handoff import HandoffProtocolTypeRouter, HandoffURLRouter
    from mychannels.socketnotfound import socket_not_found

    return HandoffProtocolTypeRouter(
        {
            "http": BodyLimit(django_http, upload_body_limit_for),
            "websocket": SameOriginValidator(
                SessionAuthMiddlewareStack(
                    HandoffURLRouter(
                        chat_sockets
                        + alert_sockets
                        + dashboard_sockets
                        + [re_path(r"", socket_not_found)]
                    )
                )
            ),
        }
    )
