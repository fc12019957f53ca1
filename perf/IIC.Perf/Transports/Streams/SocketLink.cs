using System.Net;
using System.Net.Sockets;
using IIC.Perf.Core;

namespace IIC.Perf.Transports.Streams;

/// <summary>Bounded connect and accept for the socket transports.</summary>
internal static class SocketLink
{
    private static readonly TimeSpan s_slice = TimeSpan.FromMilliseconds(100);

    public static Socket Listen(EndPoint endPoint, ProtocolType protocol)
    {
        var listener = new Socket(endPoint.AddressFamily, SocketType.Stream, protocol);
        try
        {
            if (protocol == ProtocolType.Tcp)
            {
                listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            }
            listener.Bind(endPoint);
            listener.Listen(1);
            return listener;
        }
        catch
        {
            listener.Dispose();
            throw;
        }
    }

    /// <summary>Accepts one connection, waiting in slices so a dead peer or the deadline ends the wait.</summary>
    public static Socket Accept(Socket listener, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(listener);
        ArgumentNullException.ThrowIfNull(guard);
        while (!listener.Poll(s_slice, SelectMode.SelectRead))
        {
            guard.Check();
        }
        return listener.Accept();
    }

    /// <summary>Connects, retrying while the server is not listening yet (it starts in parallel), within the guard.</summary>
    public static Socket Connect(EndPoint endPoint, ProtocolType protocol, RunGuard guard)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(guard);
        while (true)
        {
            var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, protocol);
            try
            {
                socket.Connect(endPoint);
                return socket;
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported or SocketError.TryAgain)
            {
                socket.Dispose();
                guard.Check();
                Thread.Sleep(s_slice / 5);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }
}
