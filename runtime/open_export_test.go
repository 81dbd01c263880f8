package runtime

// StoreImports exposes storeImports to the external tests.
var StoreImports = storeImports
