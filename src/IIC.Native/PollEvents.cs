using System.Diagnostics.CodeAnalysis;

namespace IIC.Native;

/// <summary>poll(2) event bits, requested in <see cref="PollEntry.Events"/> and reported in <see cref="PollEntry.ReturnedEvents"/>.</summary>
[Flags]
[SuppressMessage("Design", "CA1028:Enum Storage should be Int32", Justification = "Mirrors the short fields of struct pollfd, so a span of PollEntry is passed to poll(2) as is.")]
public enum PollEvents : short
{
    /// <summary>Nothing.</summary>
    None = 0,
    /// <summary>POLLIN: data (or a connection, or a process exit for a pidfd) can be read without blocking.</summary>
    Readable = 0x1,
    /// <summary>POLLPRI: exceptional condition.</summary>
    Priority = 0x2,
    /// <summary>POLLOUT: writing will not block.</summary>
    Writable = 0x4,
    /// <summary>POLLERR: error condition (always reported, need not be requested).</summary>
    Error = 0x8,
    /// <summary>POLLHUP: the peer hung up (always reported, need not be requested).</summary>
    HangUp = 0x10,
    /// <summary>POLLNVAL: the descriptor is not open (always reported, need not be requested).</summary>
    InvalidDescriptor = 0x20,
    /// <summary>POLLRDHUP: the stream socket peer closed its writing half.</summary>
    ReadHangUp = 0x2000,
}
