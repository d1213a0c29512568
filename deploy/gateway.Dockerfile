# The gateway of a deployment: the official Caddy image with deploy/Caddyfile. The services'
# image carries no Caddy (it is the devstack extra, for `make run` and the tests).
FROM caddy:2
COPY deploy/Caddyfile /etc/caddy/Caddyfile
ENV GATEWAY_BIND=0.0.0.0
EXPOSE 8080
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
