using IIC.Native;

namespace IIC.Hardware;

/// <summary>How a partition meets trouble with its grants: a grant that arrived without its descriptors, and a peer's death.</summary>
public sealed partial class Partition
{
    /// <summary>
    /// A grant arrived without its descriptors (MSG_CTRUNC: this process is at its descriptor limit, so the kernel
    /// could not install them). The bytes are still in <paramref name="buffer"/>: fail that one request with an
    /// exception naming the limit, release the grant, and stay attached.
    /// </summary>
    private void RefuseTruncatedGrant(byte[] buffer, IOException error)
    {
        var length = (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(buffer.AsSpan(8));
        var problem = $"a grant arrived without its descriptors: this process reached {ProcessLimits.DescribeOpenFilesLimit()} ({error.Message}). Close descriptors or raise the limit, then retry.";
        try
        {
            var reader = new ControlReader(buffer.AsSpan(0, Math.Clamp(length, 0, buffer.Length)));
            if (reader.Type is ControlMessageType.Connected or ControlMessageType.Incoming)
            {
                Release(reader.ReadInt64(), counted: false); // never became a GrantedConnection: not among the open grants
            }
            IicEventSource.Log.ProtocolFault("partition " + Name, Environment.ProcessId, problem);
            FailRequest(reader.RequestId, new HypervisorException(ControlError.ResourceExhausted, $"Hypervisor '{HypervisorName}' granted the request, but {problem}"));
        }
        catch (InvalidDataException)
        {
            IicEventSource.Log.ProtocolFault("partition " + Name, Environment.ProcessId, problem);
        }
    }

    /// <summary>Reports a peer's death once per connection, whether our own watcher or the hypervisor saw it first.</summary>
    private void RaisePeerDied(long connectionId, int peerPid)
    {
        if (!_deathsReported.TryAdd(connectionId, 0))
        {
            return;
        }
        IicEventSource.Log.PartitionPeerDied(Name, connectionId, peerPid);
        InvokePeerDied(new PeerDiedEventArgs(connectionId, peerPid));
    }
}
