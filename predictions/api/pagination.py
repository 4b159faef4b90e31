from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    """`?page=N` (and `?page_size=` up to 200); the page size defaults to REST_FRAMEWORK["PAGE_SIZE"] (50)."""

    page_size_query_param = "page_size"
    max_page_size = 200
