"""Task queue: one interface, RabbitMQ for the distributed run, in-process for the embedded one."""
