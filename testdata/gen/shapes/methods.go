package shapes

import "context"

// Row is a stored row.
type Row struct {
	ID   string
	Vals []int
}

// Repo stores rows.
type Repo struct {
	Name string
}

// Insert has a pointer receiver.
//
//idem:key id
func (r *Repo) Insert(ctx context.Context, id string, row Row) (Row, error) {
	called(ctx, "Insert")
	row.ID = r.Name + ":" + id
	return row, nil
}

// Count has a value receiver and a custom wrapper name.
//
//idem:key tenant
//idem:name CountOnce
func (r Repo) Count(ctx context.Context, tenant string) (int, error) {
	called(ctx, "Count")
	return len(r.Name) + len(tenant), nil
}

// Touch has an unnamed receiver.
//
//idem:key id
func (*Repo) Touch(ctx context.Context, id int64) error {
	called(ctx, "Touch")
	return nil
}
