
	no layers