using System.Net;
using IIC.Hardware;
using IIC.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;

namespace IIC.AspNetCore;

/// <summary>Kestrel's view of one offered service: each accepted channel becomes an <see cref="IicConnection"/>.</summary>
internal sealed class IicConnectionListener(IicEndPoint endPoint, IicListener listener, IicPipeOptions pipeOptions, ILogger logger) : IConnectionListener
{
    private int _unbound;

    public EndPoint EndPoint => endPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        if (_unbound != 0)
        {
            return null;
        }
        IicChannel channel;
        try
        {
            channel = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectDisposedException)
        {
            return null; // unbound: Kestrel stops accepting
        }
        catch (HypervisorException) when (_unbound != 0)
        {
            return null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            IicLog.AcceptFailed(logger, e, endPoint.ToString());
            throw;
        }
        var connection = new IicConnection(channel, endPoint, pipeOptions, logger);
        IicLog.ConnectionAccepted(logger, connection.ConnectionId, endPoint.ToString());
        connection.Start();
        return connection;
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _unbound, 1) == 0)
        {
            listener.Dispose();
            IicLog.ServiceUnbound(logger, endPoint.ToString());
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => UnbindAsync();
}
