"""Storage: SQLAlchemy Core tables, migrations, repositories and the Unit of Work."""
