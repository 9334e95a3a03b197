package actors

import (
	"github.com/semvec-go/semvec"
	pb "github.com/semvec-go/semvec/proto"
)

func notFoundf(format string, args ...any) error {
	return semvec.Errorf(semvec.KindNotFound, format, args...)
}
func invalidf(format string, args ...any) error {
	return semvec.Errorf(semvec.KindInvalid, format, args...)
}

// errorReply builds the reply message matching request req, carrying err.
func errorReply(req any, err error) Reply {
	e := ToProtoError(err)
	switch req.(type) {
	case *pb.RunRequest:
		return &pb.RunResponse{Error: e}
	case *pb.RankRequest:
		return &pb.RankResponse{Error: e}
	case *pb.StoreRequest:
		return &pb.StoreResponse{Error: e}
	case *pb.MetricsRequest:
		return &pb.MetricsResponse{Error: e}
	case *pb.ContextRequest:
		return &pb.ContextResponse{Error: e}
	case *pb.MemoryRequest:
		return &pb.MemoryResponse{Error: e}
	case *pb.TriggerRequest:
		return &pb.TriggerResponse{Error: e}
	case *pb.AnchorRequest:
		return &pb.AnchorResponse{Error: e}
	case *pb.AnchorScoreRequest:
		return &pb.AnchorScoreResponse{Error: e}
	case *pb.IsolationRequest:
		return &pb.IsolationResponse{Error: e}
	case *pb.ReleaseRequest:
		return &pb.ReleaseResponse{Error: e}
	case *pb.InjectMemoryRequest:
		return &pb.InjectMemoryResponse{Error: e}
	case *pb.ExportRequest:
		return &pb.ExportResponse{Error: e}
	case *pb.ImportRequest:
		return &pb.ImportResponse{Error: e}
	case *pb.VerifyRequest:
		return &pb.VerifyResponse{Error: e}
	case *pb.PutEntityRequest:
		return &pb.PutEntityResponse{Error: e}
	case *pb.ListEntitiesRequest:
		return &pb.ListEntitiesResponse{Error: e}
	case *pb.DeleteEntityRequest:
		return &pb.DeleteEntityResponse{Error: e}
	case *pb.StateRequest:
		return &pb.StateResponse{Error: e}
	case *pb.BlendRequest:
		return &pb.BlendResponse{Error: e}
	}
	return &pb.FlushResponse{Error: e} // requests outside this table never reach reply()
}
