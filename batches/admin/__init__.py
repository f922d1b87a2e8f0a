"""Operators' console: every batch, item, event and webhook delivery, and the control actions.

One module per model; `common` holds what they share. Importing this package registers them.
"""

from django.contrib import admin

from batches import admin_q
from batches.admin import batch, event, institution, item, usage

admin.site.site_header = "batchgen operators"
admin.site.site_title = "batchgen admin"
admin.site.index_title = "Institutions, batches, items, events, webhook deliveries and usage"
# The app list beside every page took 300 px of a 1280 px screen from the batch list; the
# home page and the breadcrumbs lead to every model.
admin.site.enable_nav_sidebar = False

__all__ = ["batch", "event", "institution", "item", "usage"]

# django-q2's own admin: superuser-only writes (issue 15, batches/admin_q.py).
admin_q.lock_down()
