"""`birbctl proxy`: stands between a user's own bot and an upstream Discord API.

relay.py   GatewayRelay, sans-I/O: one bot connection's frames both ways, read, with
           READY's resume_gateway_url pointed back at the proxy
routes.py  ResumeRoutes: the real resume_gateway_url behind each proxy resume URL
rest.py    REST forwarding, /gateway and /gateway/bot rewritten to the proxy
server.py  the aiohttp application: REST and the gateway websocket on one port
"""
