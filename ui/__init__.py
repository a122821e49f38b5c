"""Staff console: a Textual client of the service's /console endpoint (owns no business state)."""
