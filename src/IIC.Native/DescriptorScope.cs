namespace IIC.Native;

/// <summary>
/// Holds a reference on a <see cref="FileDescriptor"/> for the duration of one native call, so a concurrent
/// Dispose cannot close the number (and let it be reused) while the call still uses it; the close happens at
/// the last release instead. <c>using var scope = new DescriptorScope(fd); Call(scope.Fd);</c>
/// </summary>
internal ref struct DescriptorScope
{
    private readonly FileDescriptor _descriptor;
    private bool _added;

    /// <exception cref="ObjectDisposedException">The descriptor was closed.</exception>
    public DescriptorScope(FileDescriptor descriptor)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        _descriptor = descriptor;
        descriptor.DangerousAddRef(ref _added);
        Fd = (int)descriptor.DangerousGetHandle();
    }

    /// <summary>The descriptor number, valid until <see cref="Dispose"/>.</summary>
    public int Fd { get; }

    /// <summary>Releases the reference (idempotent).</summary>
    public void Dispose()
    {
        if (_added)
        {
            _added = false;
            _descriptor.DangerousRelease();
        }
    }
}
