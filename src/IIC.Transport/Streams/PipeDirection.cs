namespace IIC.Transport;

/// <summary>Which of a duplex pipe's two directions an error stopped (<see cref="IicDuplexPipe.UnexpectedError"/>).</summary>
internal enum PipeDirection
{
    /// <summary>The send loop: the application's flushes into the peer's ring.</summary>
    Send,

    /// <summary>The receive thread: the peer's ring into the application's input.</summary>
    Receive,
}
