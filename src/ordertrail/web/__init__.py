"""The server-rendered pages: Jinja2 templates, small own CSS and JS, no front-end build."""
