namespace IIC.Native;

/// <summary>Who is at the other end of a Unix socket (SO_PEERCRED, taken by the kernel when the connection was made), or who this process is (<see cref="Credentials.Current"/>).</summary>
/// <param name="Pid">The process id.</param>
/// <param name="Uid">The user id.</param>
/// <param name="Gid">The group id.</param>
public readonly record struct PeerCredentials(int Pid, uint Uid, uint Gid);
