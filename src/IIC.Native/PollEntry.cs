using System.Globalization;
using System.Runtime.InteropServices;

namespace IIC.Native;

/// <summary>
/// One descriptor to watch with <see cref="Poll.Wait"/>; the same layout as struct pollfd
/// (<c>{ int fd; short events; short revents; }</c>), so a span of entries is handed to the kernel without copying.
/// The entry stores the descriptor's number: keep its <see cref="FileDescriptor"/> open while polling.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
public struct PollEntry : IEquatable<PollEntry>
{
    private int _descriptor;
    private PollEvents _events;
    private PollEvents _returnedEvents;

    /// <summary>Watches <paramref name="descriptor"/> for <paramref name="events"/>.</summary>
    /// <exception cref="ObjectDisposedException">The descriptor was closed.</exception>
    public PollEntry(FileDescriptor descriptor, PollEvents events)
    {
        ArgumentNullException.ThrowIfNull(descriptor);
        _descriptor = descriptor.Value;
        _events = events;
        _returnedEvents = PollEvents.None;
    }

    /// <summary>Watches the raw descriptor number <paramref name="descriptor"/>; a negative number is ignored by poll (the entry reports nothing).</summary>
    public PollEntry(int descriptor, PollEvents events)
    {
        _descriptor = descriptor;
        _events = events;
        _returnedEvents = PollEvents.None;
    }

    /// <summary>The descriptor number (negative: ignored).</summary>
    public int Descriptor
    {
        readonly get => _descriptor;
        set => _descriptor = value;
    }

    /// <summary>The events to wait for. <see cref="PollEvents.Error"/>, <see cref="PollEvents.HangUp"/> and <see cref="PollEvents.InvalidDescriptor"/> are reported even if not requested.</summary>
    public PollEvents Events
    {
        readonly get => _events;
        set => _events = value;
    }

    /// <summary>What the last <see cref="Poll.Wait"/> found (set by the kernel; <see cref="PollEvents.None"/> if nothing).</summary>
    public PollEvents ReturnedEvents
    {
        readonly get => _returnedEvents;
        set => _returnedEvents = value;
    }

    /// <inheritdoc />
    public readonly bool Equals(PollEntry other) =>
        _descriptor == other._descriptor && _events == other._events && _returnedEvents == other._returnedEvents;

    /// <inheritdoc />
    public override readonly bool Equals(object? obj) => obj is PollEntry other && Equals(other);

    /// <inheritdoc />
    public override readonly int GetHashCode() => HashCode.Combine(_descriptor, _events, _returnedEvents);

    /// <inheritdoc />
    public override readonly string ToString() =>
        string.Create(CultureInfo.InvariantCulture, $"fd {_descriptor}: wants {_events}, got {_returnedEvents}");

    /// <summary>Equality.</summary>
    public static bool operator ==(PollEntry left, PollEntry right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(PollEntry left, PollEntry right) => !left.Equals(right);
}
