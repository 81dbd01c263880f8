package deps

import (
	_ "github.com/avast/retry-go/v4"
	_ "github.com/dave/jennifer/jen"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/redis/go-redis/v9"
	_ "github.com/stretchr/testify/require"
	_ "golang.org/x/tools/go/packages"
	_ "modernc.org/sqlite"
)
